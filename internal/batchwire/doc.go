// Package batchwire holds the JSON shapes that more than one Batch codec
// writes alike, with their conversions from (and, where they are read back,
// to) the root package's domain types.
//
// Name/value pairs, identity references, resource files and user accounts
// are written alike by the Batch data plane and the Microsoft.Batch
// management plane: the two codecs (internal/batchapi and
// internal/arm/batchprovider) build their own pool and node documents from
// these parts; where the planes spell an enumeration differently, the caller
// passes its spelling function. These response shapes never write secrets
// (a user account's password); only the request shapes (the ...In types)
// carry them.
//
// Both pool decoders read request bodies with the same tools: Object walks
// a JSON object property by property (names match in any case, as Azure
// reads them) and turns every failure into a 400 naming the property
// (InvalidValue, Missing, BadBody, JSONError); the request shapes both
// planes send alike (virtualMachineConfiguration, startTask, userAccounts)
// decode with DecodeVMConfig, DecodeStartTask and DecodeUserAccounts. The
// enumeration tables (ARMEnum, DPEnum, KnownEnum) and ConvertRaw translate
// between the ARM and the data-plane spellings.
//
// Job and task specs (JobSpec, TaskSpec and their parts) are the data
// plane's JSON, which internal/jobs also stores in its spec columns; their
// durations (Duration) decode under the data plane's rules.
package batchwire
