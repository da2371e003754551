FROM alpine
RUN ["echo", "exec form"]
RUN [ "sh" , "-c", "x" ]  
RUN [not json
RUN echo [ok]
CMD echo shell  form
ENTRYPOINT ["/bin/app", "--flag"]
ENTRYPOINT
CMD []
