FROM alpine
COPY --bogus=1 a /b
