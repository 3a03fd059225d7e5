package batchprovider

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
)

func TestARMUserAccounts(t *testing.T) {
	t.Parallel()
	uid, gid := 1001, 1002
	want := []cobalt.UserAccount{{Name: "mpi", Password: "pw", ElevationLevel: cobalt.ElevationAdmin,
		LinuxUserConfiguration: &cobalt.LinuxUserConfiguration{UID: &uid, GID: &gid, SSHPrivateKey: "key"}},
		{Name: "win", WindowsUserConfiguration: &cobalt.WindowsUserConfiguration{LoginMode: "interactive"}}}
	arm, err := DecodeARMPool([]byte(`{"properties":{"userAccounts":[
		{"name":"mpi","password":"pw","elevationLevel":"Admin","linuxUserConfiguration":{"uid":1001,"gid":1002,"sshPrivateKey":"key"}},
		{"name":"win","windowsUserConfiguration":{"loginMode":"Interactive"}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(arm.Pool.UserAccounts, want) {
		t.Errorf("decoded %+v, want %+v", arm.Pool.UserAccounts, want)
	}
}

func FuzzDecodeARMPool(f *testing.F) {
	b, _ := json.Marshal(poolJSON(2, uami("id1")))
	f.Add(b)
	f.Add([]byte(`{"properties":{"scaleSettings":{"fixedScale":{"resizeTimeout":"PT5M"}}}}`))
	f.Add([]byte(`{"identity":{"type":"UserAssigned","userAssignedIdentities":{"x":{}}},"properties":{"startTask":{}}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"properties":{"deploymentConfiguration":{"cloudServiceConfiguration":{}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		spec, err := DecodeARMPool(body)
		if err != nil {
			if cobalt.ErrorCode(err) != cobalt.EInvalid {
				t.Fatalf("non-400 error %v", err)
			}
			return
		}
		p := batch.NewPool("p", spec, time.Unix(0, 0))
		if err := batch.Validate(p, true); err != nil && cobalt.ErrorCode(err) != cobalt.EInvalid {
			t.Fatalf("validation gave a non-400 error %v", err)
		}
	})
}
