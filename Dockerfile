# Sluice container image: `make image` builds it (docs/deploy.md).
# The build stage's `go build` line is run as written, outside Docker, by
# TestDockerfileBuild in deploy/helm/test: keep it on one line.
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
RUN go build -trimpath -ldflags "-s -w -X github.com/sluicehq/sluice/internal/app.Version=${VERSION} -X github.com/sluicehq/sluice/internal/app.Commit=${COMMIT} -X github.com/sluicehq/sluice/internal/app.Date=${DATE}" -o dist/image/sluice ./cmd/sluice
# The data directory, owned by the non-root user, for the final stage.
RUN mkdir -p dist/image/data && chmod 700 dist/image/data

# Static, no shell, no package manager; runs as nonroot (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/dist/image/sluice /usr/local/bin/sluice
COPY --from=build --chown=65532:65532 /src/dist/image/data /data
USER 65532:65532
# Sluice writes only here (the SQLite database, the KEK it may generate, the
# ledger journal, the data-directory lock): the root file system can be
# mounted read-only.
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--data-dir", "/data"]
