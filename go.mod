module github.com/consign/consign

go 1.26.8

require (
	github.com/hashicorp/go-multierror v1.1.1
	golang.org/x/sync v0.25.0
	pgregory.net/rapid v1.3.0
)

require github.com/hashicorp/errwrap v1.0.0 // indirect
