package azurenames

import "testing"

func TestParse(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		host string
		want Name
	}{
		{"login.microsoftonline.com", Name{Kind: Login}},
		{"LOGIN.microsoftonline.com:443", Name{Kind: Login}},
		{"management.azure.com.", Name{Kind: Management}},
		{"store1.blob.core.windows.net", Name{Kind: Blob, Resource: "store1"}},
		{"Store1.Blob.Core.Windows.Net:443", Name{Kind: Blob, Resource: "store1"}},
		{"acct1.eastus.batch.azure.com", Name{Kind: Batch, Resource: "acct1"}},
		{"acct1.westus.batch.azure.com", Name{}}, // another location
		{"reg1.azurecr.io", Name{Kind: Registry, Resource: "reg1"}},
		{"a.b.blob.core.windows.net", Name{}}, // two labels
		{".blob.core.windows.net", Name{}},
		{"blob.core.windows.net", Name{}},
		{"evil.com", Name{}},
		{"store1.blob.core.windows.net.evil.com", Name{}},
		{"[::1]:443", Name{}},
		{"", Name{}},
	} {
		if got := Parse(c.host, "eastus"); got != c.want {
			t.Errorf("Parse(%q) = %+v, want %+v", c.host, got, c.want)
		}
	}
}

func TestServed(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"login.microsoftonline.com.":         true,
		"management.azure.com":               true,
		"store1.blob.core.windows.net.":      true,
		"acct.westeurope.batch.azure.com.":   true,
		"reg.azurecr.io.":                    true,
		"batch.azure.com.":                   false,
		"x.batch.azure.com.":                 false,
		"example.com.":                       false,
		"169.254.169.254.":                   false,
		"store1.blob.core.windows.net.evil.": false,
		"login.microsoftonline.com.evil.":    false,
	} {
		if got := Served(name); got != want {
			t.Errorf("Served(%q) = %v, want %v", name, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"store1.blob.core.windows.net:443", "a.eastus.batch.azure.com", "[::1]:1", "x.azurecr.io."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		n := Parse(host, "eastus")
		if n.Kind == None && n.Resource != "" {
			t.Fatalf("Parse(%q) = %+v: a resource without a kind", host, n)
		}
		if n.Kind != None && n.Kind != Login && n.Kind != Management && !label(n.Resource) {
			t.Fatalf("Parse(%q) = %+v: resource is not one label", host, n)
		}
		_ = Served(host)
	})
}
