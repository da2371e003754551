ARG BASE=alpine
ARG TAG
FROM ${BASE}:${TAG:-latest} AS Build
ARG TAG
RUN make
FROM --platform=$BUILDPLATFORM golang:1.22 as tools
COPY --from=build /out /out
FROM scratch
COPY --from=0 --chown=1000:1000 --chmod=0755 /out /bin/
