# market-ingest container image: one image, every role.
#
#   docker build -t market-ingest .
#   docker run --env-file .env market-ingest ingest      # or worker | reconcile | start (the default)
#   docker run --env-file .env market-ingest pending     # any other command: dlq list, shops list, ...
#
# Set REDIS_URL and MONGO_URL: the embedded servers of `start` are for a laptop, and this image
# ships no redis-server or mongod. See docs/operations.md.

# ---- build: compile the TypeScript sources to dist/ ------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the package's `prepare` script runs tsc, and the sources are not copied yet.
# No dependency needs its install script to compile.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies and dist/ only ------------------------------------------
FROM node:20-bookworm-slim AS runtime
# Only npm reads this (it omits dev dependencies); the service itself never looks at NODE_ENV.
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (tsc) is a build step and tsc is a dev dependency, absent here.
# No production dependency has an install script.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# `market-ingest` on PATH, for `docker exec <container> market-ingest pending` and the like.
# ./data is where `start` keeps embedded servers' data; the non-root user must be able to write it.
RUN chmod 0755 dist/cli.js \
  && ln -s /app/dist/cli.js /usr/local/bin/market-ingest \
  && mkdir -p /app/data \
  && chown node:node /app/data

# The official image's unprivileged user (uid 1000).
USER node

# The ingest HTTP port (PORT). worker and reconcile listen only when METRICS_PORT is set.
EXPOSE 8080

# Healthy when the ingest server answers GET /healthz on PORT (roles `ingest` and `start`), or
# else the metrics server answers GET /metrics on METRICS_PORT (roles `worker` and `reconcile`,
# which have no HTTP server unless METRICS_PORT is set: set it for them, or override this check).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const get = (port, path) => fetch('http://127.0.0.1:' + port + path, { signal: AbortSignal.timeout(3000) }).then((r) => r.ok, () => false); (async () => { const metricsPort = process.env.METRICS_PORT; const ok = (await get(process.env.PORT || '8080', '/healthz')) || (metricsPort ? await get(metricsPort, '/metrics') : false); process.exit(ok ? 0 : 1); })();"]

# `market-ingest <role>`: start | ingest | worker | reconcile (or any other command).
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["start"]
