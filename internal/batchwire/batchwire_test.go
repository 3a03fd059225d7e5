package batchwire

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt"
)

func TestShapes(t *testing.T) {
	t.Parallel()
	if NameValues(nil) != nil || ResourceFiles(nil) != nil || UserAccounts(nil, nil) != nil || IdentityRef(nil) != nil {
		t.Fatal("nil does not stay nil")
	}
	uid := 1000
	b, err := json.Marshal(struct {
		M  []NameValue    `json:"m"`
		R  []ResourceFile `json:"r"`
		U  []UserAccount  `json:"u"`
		E0 []NameValue    `json:"e0"`
	}{
		M:  NameValues([]cobalt.NameValue{{Name: "k", Value: "v"}}),
		R:  ResourceFiles([]cobalt.ResourceFile{{HTTPURL: "https://h/x", FilePath: "x", IdentityReference: &cobalt.IdentityReference{ResourceID: "/id"}}}),
		U:  UserAccounts([]cobalt.UserAccount{{Name: "u", Password: "secret", ElevationLevel: cobalt.ElevationAdmin, LinuxUserConfiguration: &cobalt.LinuxUserConfiguration{UID: &uid}}}, func(_, v string) string { return strings.ToUpper(v) }),
		E0: NameValues([]cobalt.NameValue{}),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"m":[{"name":"k","value":"v"}],"r":[{"httpUrl":"https://h/x","filePath":"x","identityReference":{"resourceId":"/id"}}],` +
		`"u":[{"name":"u","elevationLevel":"ADMIN","linuxUserConfiguration":{"uid":1000}}],"e0":[]}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}
