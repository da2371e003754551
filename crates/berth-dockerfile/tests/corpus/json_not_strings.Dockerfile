FROM alpine
RUN ["echo", 1]
