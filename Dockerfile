# The production image holds lunas alone. `docker build .` builds it (the
# last stage is the default target); the fake gateways for the local demo
# are a separate target, `docker build --target fakegw .`, used only by
# docker-compose.yml.
#
# The build context leaves out .git (.dockerignore), so the Go toolchain
# cannot stamp the VCS revision itself; pass it, and the version, as
# build arguments:
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#                --build-arg REVISION=$(git rev-parse HEAD) -t lunas .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" -o /out/lunas ./cmd/lunas

# The demo's fake Midtrans, fake Xendit and SMTP sink: never in the production image.
FROM build AS fakegw-build
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/fakegw ./cmd/fakegw

FROM gcr.io/distroless/static-debian12:nonroot AS fakegw
COPY --from=fakegw-build /out/fakegw /usr/local/bin/fakegw
ENTRYPOINT ["/usr/local/bin/fakegw"]

# Production: lunas only.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/lunas /usr/local/bin/lunas
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/lunas"]
CMD ["all"]
