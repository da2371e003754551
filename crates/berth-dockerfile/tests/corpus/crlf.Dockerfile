FROM alpine
RUN one \
  two
CMD ["a", "b"]
