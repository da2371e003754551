FROM alpine
USER nobody
