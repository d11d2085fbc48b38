// Runs DigitalOcean's deployer library (@nimbella/nimbella-deployer, what `doctl serverless deploy`
// is built on) over a project folder, offline, and prints what it made of it as one JSON line.
//
//   node deployer.js read  <project>            read it as `deploy --remote-build` does
//   node deployer.js build <project> <pkg/fn>…  read it for a local build of those functions and build
//                                              them: each folder's build.sh runs, then its files are
//                                              collected and zipped, as before an upload
//
// The runtimes the platform would list (GET <api host>/api/v1 .runtimes) come from runtimes.json.
// Where the library resolves from: NODE_PATH (the test's npm ci of package.json here).
"use strict";

const fs = require("fs");
const path = require("path");
const deployer = require("@nimbella/nimbella-deployer");

const [mode, project, ...only] = process.argv.slice(2);
const runtimes = JSON.parse(fs.readFileSync(path.join(__dirname, "runtimes.json"), "utf8")).runtimes;
const messages = [];
const feedback = {
  warn: (...args) => messages.push(["warn", args.join(" ")]),
  progress: (...args) => messages.push(["progress", args.join(" ")]),
};

function describe(spec) {
  const error = (e) => (e ? String(e.message || e) : undefined);
  return {
    error: error(spec.error),
    unresolved: spec.unresolvedVariables || [],
    environment: spec.environment,
    packages: (spec.packages || []).filter((pkg) => pkg.name !== "default" || (pkg.actions || []).length)
      .map((pkg) => ({
        name: pkg.name,
        environment: pkg.environment,
        actions: (pkg.actions || []).map((a) => ({
          name: a.name,
          runtime: a.runtime,
          web: a.web,
          webSecure: a.webSecure,
          build: a.build,
          buildError: error(a.buildError),
          environment: a.environment,
          annotations: a.annotations,
          limits: a.limits,
          triggers: a.triggers,
          file: a.file,
          zipped: a.zipped,
        })),
      })),
    messages,
  };
}

async function main() {
  const remote = mode === "read";
  const includer = deployer.makeIncluder(only.length ? only.join(",") : undefined, undefined);
  const spec = await deployer.readProject(path.resolve(project), undefined, undefined, includer, remote,
    feedback, runtimes);
  if (mode === "build" && !spec.error) {
    // What readPrepareAndBuild adds before building, minus the credentials a real deploy brings.
    spec.flags = { incremental: false, verboseBuild: false, verboseZip: false };
    spec.deployerAnnotation = {};
    const built = await deployer.buildProject(spec, runtimes);
    process.stdout.write(JSON.stringify(describe(built)) + "\n");
    return;
  }
  process.stdout.write(JSON.stringify(describe(spec)) + "\n");
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ error: String(err && err.stack || err), messages }) + "\n");
  process.exitCode = 1;
});
