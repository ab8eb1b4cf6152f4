// `node scripts/with-node.mjs <script> [args…]` runs a script under a supported Node: this one
// when it is new enough, else the one `scripts/setup.mjs` fetched into .node/ (fetching it now
// if it has not). npm's scripts go through it because `npm test` is started by whatever npm and
// Node the machine has. Plain ESM, no dependencies: it runs under an old Node by design.
import { NodeSetupError, isSupported, runUnder, supportedNode } from './node-runtime.mjs';

const [script, ...args] = process.argv.slice(2);
if (!script) {
  process.stderr.write('usage: node scripts/with-node.mjs <script> [args…]\n');
  process.exit(2);
}
if (isSupported()) {
  // Nothing to switch: load the script in this process, as `node <script>` would.
  process.argv = [process.argv[0], script, ...args];
  const { pathToFileURL } = await import('node:url');
  const { resolve } = await import('node:path');
  await import(pathToFileURL(resolve(script)).href);
} else {
  let node;
  try {
    node = supportedNode();
  } catch (error) {
    if (!(error instanceof NodeSetupError)) throw error;
    process.stderr.write(`leasehold: ${error.message}\n`);
    process.exit(1);
  }
  // Node flags given to this process (the control plane's heap settings) go to that one too.
  runUnder(node, [...process.execArgv, script, ...args]);
}
