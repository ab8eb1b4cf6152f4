// `node scripts/fetch-node.mjs <major>` prints the bin directory of a Node of that major (22 or
// 24): the one running this when it is that major and supported, else the pinned build, fetched
// into .node/ if it is not there. CI puts it first on PATH to run the suite on each supported Node.
import { dirname } from 'node:path';
import { NodeSetupError, ensureNode, isSupported } from './node-runtime.mjs';

const major = Number(process.argv[2]);
try {
  const current = isSupported() && Number(process.versions.node.split('.')[0]) === major;
  process.stdout.write(`${dirname(current ? process.execPath : ensureNode(major))}\n`);
} catch (error) {
  if (!(error instanceof NodeSetupError)) throw error;
  process.stderr.write(`fetch-node: ${error.message}\n`);
  process.exit(1);
}
