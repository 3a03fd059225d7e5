package server

import "github.com/cobaltbatch/cobalt/internal/bearer"

// Validator returns the server's bearer-token validator, so that the external
// tests can check the tokens its login service issues.
func (s *Server) Validator() *bearer.Validator { return s.validator }
