FROM alpine
RUN ok
FOO bar
