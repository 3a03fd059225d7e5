package batch

// ResizeRequest is a data-plane resize.
type ResizeRequest struct {
	TargetDedicatedNodes   *int32 `json:"targetDedicatedNodes"`
	TargetLowPriorityNodes *int32 `json:"targetLowPriorityNodes"`
	ResizeTimeout          string `json:"resizeTimeout"`
	NodeDeallocationOption string `json:"nodeDeallocationOption"`
}
