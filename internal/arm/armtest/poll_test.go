package armtest

import (
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

func runtimePollOptions() runtime.PollUntilDoneOptions {
	return runtime.PollUntilDoneOptions{Frequency: 50 * time.Millisecond}
}
