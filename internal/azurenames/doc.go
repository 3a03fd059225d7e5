// Package azurenames gives Azure's public hostnames to code running on a
// node: login.microsoftonline.com, management.azure.com,
// {account}.blob.core.windows.net, {account}.{location}.batch.azure.com and
// {registry}.azurecr.io. The control plane serves them all on one TLS
// listener (Router routes each name to the Cobalt service behind it, with a
// certificate for the names from the installation's CA); inside each node a
// small DNS responder (ServeDNS) answers those names, and only those, with
// the loopback address, where the node forwards port 443 to that listener.
// So an official SDK inside a task, given Azure's URLs and no endpoint
// override, reaches Cobalt.
package azurenames
