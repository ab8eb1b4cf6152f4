# syntax=docker/dockerfile:1
# The control plane image: `docker build -t leasehold .` (see README, "Deploy on Kubernetes").

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: nothing we depend on needs one, and they are code we did not read.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs ./scripts/
COPY machines ./machines
COPY src ./src
RUN node scripts/build.mjs tsconfig.build.json && npm prune --omit=dev --ignore-scripts

FROM node:24-bookworm-slim
# tini is PID 1: it forwards SIGTERM to node (which persists every workload and exits 0) and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/machines ./dist/machines
COPY bin ./bin
# A numeric user, so that runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
EXPOSE 8080
# The control plane's Node flags (src/node-flags.ts): heap settings are read only at start.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=32", "/app/bin/leasehold.js"]
CMD ["start", "--runtime", "kubernetes", "--http-host", "0.0.0.0", "--http-port", "8080"]
