FROM alpine AS
