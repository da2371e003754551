FROM alpine
# escape=`
RUN a `
