package registryprovider

import (
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt/internal/arm"
)

// request is a registry PUT or PATCH body: the parts Cobalt honours, and
// those it must refuse rather than ignore.
type request struct {
	Location *string            `json:"location"`
	Tags     *map[string]string `json:"tags"`
	Sku      *struct {
		Name string `json:"name"`
	} `json:"sku"`
	Identity *struct {
		Type string `json:"type"`
	} `json:"identity"`
	Properties *struct {
		AdminUserEnabled     *bool   `json:"adminUserEnabled"`
		PublicNetworkAccess  *string `json:"publicNetworkAccess"`
		AnonymousPullEnabled *bool   `json:"anonymousPullEnabled"`
		NetworkRuleSet       *struct {
			DefaultAction string `json:"defaultAction"`
		} `json:"networkRuleSet"`
	} `json:"properties"`
}

// decodeRequest decodes and checks a PUT (create true: location and sku are
// required) or PATCH body. Every failure is an ARM 400.
func decodeRequest(b []byte, create bool) (request, error) {
	var in request
	if err := arm.DecodeJSON(b, &in); err != nil {
		return in, err
	}
	if create {
		if in.Location == nil || strings.TrimSpace(*in.Location) == "" {
			return in, arm.Invalid("LocationRequired", "location", "The location property is required for this definition.")
		}
		if in.Sku == nil {
			return in, arm.Invalid("MissingRequiredProperty", "sku", "The property 'sku' is required.")
		}
	}
	if in.Sku != nil && canonicalSku(in.Sku.Name) == "" {
		return in, arm.Invalid("InvalidSku", "sku.name",
			"The SKU '%s' is not valid. Supported SKUs are Basic, Standard and Premium.", in.Sku.Name)
	}
	if in.Tags != nil {
		if len(*in.Tags) > 50 {
			return in, arm.Invalid("InvalidTag", "tags", "A resource can have at most 50 tags.")
		}
		for k, v := range *in.Tags {
			if k == "" || len(k) > 512 || len(v) > 256 {
				return in, arm.Invalid("InvalidTagNameCharacters", "tags",
					"Tag names must have 1 to 512 characters and tag values at most 256.")
			}
		}
	}
	if in.Identity != nil && in.Identity.Type != "" && !strings.EqualFold(in.Identity.Type, "None") {
		return in, arm.Invalid("IdentityNotSupported", "identity.type",
			"Cobalt container registries have no managed identity (identity type '%s'): ACR uses a registry's identity for customer-managed keys and ACR Tasks, which Cobalt does not implement. Omit identity or use 'None'.", in.Identity.Type)
	}
	if pr := in.Properties; pr != nil {
		if pr.PublicNetworkAccess != nil && !strings.EqualFold(*pr.PublicNetworkAccess, "Enabled") {
			return in, arm.Invalid("FeatureNotSupported", "properties.publicNetworkAccess",
				"Cobalt container registries do not implement private endpoints; publicNetworkAccess must be 'Enabled'.")
		}
		if pr.NetworkRuleSet != nil && pr.NetworkRuleSet.DefaultAction != "" && !strings.EqualFold(pr.NetworkRuleSet.DefaultAction, "Allow") {
			return in, arm.Invalid("FeatureNotSupported", "properties.networkRuleSet.defaultAction",
				"Cobalt container registries do not implement network rules; the default action must be 'Allow'.")
		}
		if pr.AnonymousPullEnabled != nil && *pr.AnonymousPullEnabled {
			return in, arm.Invalid("FeatureNotSupported", "properties.anonymousPullEnabled",
				"Cobalt container registries do not implement anonymous pull.")
		}
	}
	return in, nil
}

// apply sets what the request changes on a stored registry, generating the
// admin passwords the first time the admin user is enabled.
func (in request) apply(s *stored, now time.Time) error {
	if in.Tags != nil {
		s.Tags = *in.Tags
	}
	if in.Sku != nil {
		n := canonicalSku(in.Sku.Name)
		s.Sku = Sku{Name: n, Tier: n}
	}
	if in.Properties != nil && in.Properties.AdminUserEnabled != nil {
		s.Properties.AdminUserEnabled = *in.Properties.AdminUserEnabled
	}
	if s.Properties.AdminUserEnabled && len(s.Passwords) == 0 {
		for range passwordNames {
			v, err := newPassword()
			if err != nil {
				return err
			}
			s.Passwords = append(s.Passwords, password{Value: v, Created: now})
		}
	}
	return nil
}
