# syntax=docker/dockerfile:1
# escape=`
FROM mcr.microsoft.com/windows
RUN dir C:\ `
  && echo done
COPY a\b C:\dest\
