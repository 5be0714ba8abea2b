# syntax=docker/dockerfile:1
# cheq-rti-authz: Envoy/Istio ext_authz and NGINX auth_request server for CHEQ RTI.
#   docker build -t cheq-rti-authz:0.1.0 .
#   docker run --read-only -p 9001:9001 -p 8080:8080 -p 9464:9464 \
#     -e CHEQ_API_KEY_FILE=/run/secrets/cheq-api-key -e CHEQ_TAG_HASH=... \
#     -e CHEQ_API_ENDPOINT=https://rti-global.cheqzone.com cheq-rti-authz:0.1.0
# Pin NODE_IMAGE by digest in production builds (node:20-alpine@sha256:...).
ARG NODE_IMAGE=node:20-alpine

# --- build: dev dependencies and the TypeScript compiler, then production dependencies only
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY proto ./proto
COPY src ./src
RUN npm run build:dist && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime: compiled code, production node_modules, our protos; nothing else
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/proto ./proto
# The image's unprivileged user (uid 1000); nothing is written at run time, so the root
# filesystem can be read-only.
USER node
# gRPC ext_authz + health, HTTP endpoints (NGINX, Envoy HTTP, forward auth), metrics + health.
EXPOSE 9001 8080 9464
HEALTHCHECK --interval=10s --timeout=2s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.CHEQ_METRICS_PORT||process.env.METRICS_PORT||9464)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1 and receives SIGTERM itself; it handles it (graceful drain).
# --heap-growing-percent=100: V8 collects the old generation when it has doubled rather than
# when it has grown by V8's own (larger) factor. Measured at saturation by the bench: resident
# memory 180-195 MB -> 135-140 MB, throughput unchanged.
# --no-allocation-site-pretenuring: after a burst V8 may decide that the per-check objects of
# grpc-js and protobufjs live long and allocate them in the old generation from then on; every
# young-generation collection then copies ~2 MB (5-9 ms pauses) and full collections come every
# second. Turning it off keeps pauses ~1 ms: side by side (bench/compare-node-flags.mjs),
# +13-16 % at saturation and p99 at 1,500 checks/s 24-30 -> 6-7 ms where the server without
# it fell into that state, -2 % where it did not.
# Node takes both on its command line only (not NODE_OPTIONS).
ENTRYPOINT ["node", "--heap-growing-percent=100", "--no-allocation-site-pretenuring", "dist/main.js"]
