// Shared set-up for the end-to-end scripts: read the input JSON from stdin and
// build the official clients' options from Cobalt's endpoints.json.
"use strict";
const fs = require("fs");
const { ClientSecretCredential } = require("@azure/identity");

function readInput() {
  const text = fs.readFileSync(0, "utf8");
  return text ? JSON.parse(text) : {};
}

function endpoints() {
  return JSON.parse(fs.readFileSync(process.env.COBALT_ENDPOINTS, "utf8"));
}

function credential(ep, clientId, secret) {
  return new ClientSecretCredential(ep.tenantId, clientId || ep.adminClientId, secret || ep.adminClientSecret, {
    authorityHost: ep.authorityHost,
    disableInstanceDiscovery: true,
  });
}

function armOptions(ep) {
  return { endpoint: ep.resourceManager, credentialScopes: [ep.resourceManagerAudience + "/.default"] };
}

// run executes main and prints its result as JSON, or the error and exit code 1.
function run(main) {
  main(readInput(), endpoints()).then(
    (out) => process.stdout.write(JSON.stringify(out === undefined ? {} : out)),
    (err) => {
      const body = err && err.response && err.response.bodyAsText;
      process.stderr.write(`${err && err.stack ? err.stack : err}\n${body || ""}\n`);
      process.stdout.write(JSON.stringify({ error: { code: err.code, statusCode: err.statusCode, message: err.message } }));
      process.exit(1);
    },
  );
}

module.exports = { credential, armOptions, run };
