package jobs

import (
	"errors"

	"github.com/cobaltbatch/cobalt"
)

// The conditions the service reports beyond an error's class. An error
// returned by the Service matches at most one of them with errors.Is; each
// wire codec names them in its own protocol (the Batch data plane's table
// is in internal/batchapi). Errors that match none carry only their class.
var (
	ErrJobNotFound        = errors.New("job not found")
	ErrTaskNotFound       = errors.New("task not found")
	ErrJobExists          = errors.New("job exists")
	ErrTaskExists         = errors.New("task exists")
	ErrJobCompleted       = errors.New("job completed")
	ErrTaskCompleted      = errors.New("task completed")
	ErrJobNotActive       = errors.New("job not active")
	ErrJobNotDisabled     = errors.New("job not disabled")
	ErrJobBeingDeleted    = errors.New("job being deleted")
	ErrJobBeingTerminated = errors.New("job being terminated")
	// ErrMissingProperty marks an EInvalid error for a required property
	// that is absent; the error's Target names it.
	ErrMissingProperty = errors.New("missing property")
	// ErrUnsupported marks an EInvalid error for a property Cobalt does not
	// support (auto pools, job manager tasks, multi-instance tasks, ...).
	ErrUnsupported = errors.New("unsupported property")
)

// conditionError is a *cobalt.Error that also matches one of the
// conditions above.
type conditionError struct {
	cond error
	err  *cobalt.Error
}

func (e *conditionError) Error() string   { return e.err.Error() }
func (e *conditionError) Unwrap() []error { return []error{e.err, e.cond} }

// fail returns an error of class code that matches cond.
func fail(cond error, code cobalt.Code, format string, args ...any) error {
	return failAt(cond, code, "", format, args...)
}

// failAt is fail with the offending property or parameter as the target.
func failAt(cond error, code cobalt.Code, target, format string, args ...any) error {
	e := cobalt.Errorf(code, format, args...)
	e.Target = target
	return &conditionError{cond: cond, err: e}
}

// invalidProp is EInvalid for a property with a bad value.
func invalidProp(target, format string, args ...any) error {
	return cobalt.Errorf(cobalt.EInvalid, format, args...).WithTarget(target)
}

// missingProp is EInvalid ErrMissingProperty for an absent required property.
func missingProp(target string) error {
	return failAt(ErrMissingProperty, cobalt.EInvalid, target, "The property %s is required.", target)
}

// notFoundAs gives a store ENotFound the condition cond; an error that
// already has a condition or a reason is returned as it is.
func notFoundAs(err error, cond error, msg string) error {
	var ce *conditionError
	if cobalt.IsCode(err, cobalt.ENotFound) && cobalt.ErrorReason(err) == "" && !errors.As(err, &ce) {
		return fail(cond, cobalt.ENotFound, "%s", msg)
	}
	return err
}

func errJobNotFound(err error) error {
	return notFoundAs(err, ErrJobNotFound, "The specified job does not exist.")
}

func errTaskNotFound(err error) error {
	return notFoundAs(err, ErrTaskNotFound, "The specified task does not exist.")
}

// errPrecondition is the failure of a conditional write.
func errPrecondition() error {
	return cobalt.Errorf(cobalt.EPreconditionFailed, "The condition specified using HTTP conditional header(s) is not met.")
}
