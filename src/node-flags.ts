/**
 * The Node flags the control plane runs with. Node reads heap settings only when it starts, so
 * they are on its command line wherever we start it: the image's ENTRYPOINT (Dockerfile) and
 * `npm start` / `npm run dev` (package.json). A test keeps those in step with this list, and the
 * benchmark starts this build's control plane with it, so what is measured is what ships.
 *
 * `--max-semi-space-size=32`: during a burst V8 grows the young generation to its default
 * ceiling of 2 × 64 MiB and keeps it committed afterwards, empty. Capped at 2 × 32 MiB,
 * 100,000 live workloads took 693–793 MiB RSS in three runs (693 against 821 MiB for the same
 * build without it, side by side), and burst throughput measured side by side did not change
 * (2,945/s against 2,908/s); at 16 MiB the burst lost a fifth (README, Performance).
 */
export const CONTROL_PLANE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];
