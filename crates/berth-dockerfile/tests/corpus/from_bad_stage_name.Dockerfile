FROM alpine AS 1stage
