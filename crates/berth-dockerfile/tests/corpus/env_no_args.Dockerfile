FROM alpine
ENV
