package datastore

import "errors"

// Errors callers can test for with errors.Is; messages read like Calico's ("resource does not exist: IPPool(p)").
var (
	ErrNotFound      = errors.New("resource does not exist")
	ErrAlreadyExists = errors.New("resource already exists")
	ErrConflict      = errors.New("update conflict")
	ErrUnreachable   = errors.New("datastore unreachable")
)
