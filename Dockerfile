# lunas and its local fakes, in one image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/lunas ./cmd/lunas \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/fakegw ./cmd/fakegw

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/lunas /out/fakegw /usr/local/bin/
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/lunas"]
CMD ["all"]
