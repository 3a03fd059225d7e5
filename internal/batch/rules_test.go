package batch

import (
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
)

func TestDurations(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"PT15M", 15 * time.Minute, "PT15M"},
		{"PT5M", 5 * time.Minute, "PT5M"},
		{"P1D", 24 * time.Hour, "P1D"},
		{"P1DT2H3M4.5S", 26*time.Hour + 3*time.Minute + 4500*time.Millisecond, "P1DT2H3M4.5S"},
		{"PT0S", 0, "PT0S"},
		{"P1W", 7 * 24 * time.Hour, "P7D"},
		{Unlimited, time.Duration(1<<63 - 1), Unlimited},
	} {
		d, err := ParseDuration(c.in)
		if err != nil || d != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v", c.in, d, err)
		}
		if got := FormatDuration(d); got != c.out {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, c.out)
		}
	}
	for _, bad := range []string{"", "P", "PT", "15M", "P1M", "PT1D", "P1H", "PTxS", "P1DT", "P99999999999999999999D"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
}

func TestIdentityRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	sys := &cobalt.Account{ID: testAcctID, Name: "acct1", TenantID: testTenant, Identity: &cobalt.AccountIdentity{Type: "SystemAssigned", PrincipalID: "oid-id2"}}
	for _, c := range []struct {
		name  string
		acct  *cobalt.Account
		id    cobalt.PoolIdentity
		names string
	}{
		{"system assigned", e.acct, cobalt.PoolIdentity{Type: "SystemAssigned"}, "SystemAssigned"},
		{"unknown type", e.acct, cobalt.PoolIdentity{Type: "Managed"}, "Managed"},
		{"none with ids", e.acct, cobalt.PoolIdentity{Type: "None", Identities: []cobalt.UserAssignedIdentity{{ResourceID: uami1}}}, "None"},
		{"missing", e.acct, cobalt.PoolIdentity{Type: "UserAssigned", Identities: []cobalt.UserAssignedIdentity{{ResourceID: uami1 + "x"}}}, uami1 + "x"},
		{"other tenant", e.acct, cobalt.PoolIdentity{Type: "UserAssigned", Identities: []cobalt.UserAssignedIdentity{{ResourceID: uamiOther}}}, uamiOther},
		{"account itself", e.acct, cobalt.PoolIdentity{Type: "UserAssigned", Identities: []cobalt.UserAssignedIdentity{{ResourceID: testAcctID}}}, testAcctID},
		{"account's system principal", sys, cobalt.PoolIdentity{Type: "UserAssigned", Identities: []cobalt.UserAssignedIdentity{{ResourceID: uami2}}}, "system-assigned"},
		{"malformed", e.acct, cobalt.PoolIdentity{Type: "UserAssigned", Identities: []cobalt.UserAssignedIdentity{{ResourceID: "id1"}}}, "'id1'"},
	} {
		id := c.id
		err := e.svc.ResolveIdentities(t.Context(), c.acct, &id)
		if cobalt.ErrorCode(err) != cobalt.EInvalid || !strings.Contains(cobalt.ErrorMessage(err), c.names) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	id := cobalt.PoolIdentity{Type: "userassigned", Identities: []cobalt.UserAssignedIdentity{{ResourceID: strings.ToLower(uami2)}, {ResourceID: uami1}}}
	if err := e.svc.ResolveIdentities(t.Context(), e.acct, &id); err != nil {
		t.Fatal(err)
	}
	if id.Type != "UserAssigned" || id.Identities[0].ClientID != "cid-id1" || id.Identities[1].PrincipalID != "oid-id2" {
		t.Fatalf("resolved = %+v", id)
	}
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	if _, ok := LookupVMSize("standard_d2s_v3"); !ok {
		t.Fatal("lower-case VM size not found")
	}
	for _, ref := range []cobalt.ImageReference{
		{Publisher: "Canonical", Offer: "0001-com-ubuntu-server-jammy", Sku: "22_04-lts"},
		{Publisher: "canonical", Offer: "ubuntu-24_04-lts", Sku: "server"},
	} {
		im, ok := LookupImage(ref)
		if !ok || !strings.HasPrefix(im.NodeAgentSkuID, "batch.node.ubuntu 2") {
			t.Errorf("image %+v: %+v %v", ref, im, ok)
		}
	}
	if len(SupportedImagesJSON()) != len(Images) || len(NodeAgentSkus()) < 3 {
		t.Fatal("catalog listing")
	}
}
