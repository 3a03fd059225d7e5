package arm

import (
	"encoding/json"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// patchTags applies a PATCH body whose only updatable property is tags (ARM's
// IdentityUpdate and the storage account update both work so) to the stored
// resource of r: under the If-Match/If-None-Match preconditions against its
// ETag, decoding the stored body with decode and setting the tags with set.
// A missing resource is ARM's ResourceNotFound.
func patchTags[M any](r *Request, decode func(store.Resource) (M, error), set func(*M, map[string]string)) (store.Resource, error) {
	var in struct {
		Tags *map[string]string `json:"tags"`
	}
	if err := r.Decode(&in); err != nil {
		return store.Resource{}, err
	}
	if in.Tags != nil {
		if err := validateTags(*in.Tags); err != nil {
			return store.Resource{}, err
		}
	}
	updated, err := r.Store().ResourceUpdate(r.Context(), r.ID.Key(), func(res *store.Resource) error {
		if err := CheckPreconditions(r.Request, ETag(res.Version)); err != nil {
			return err
		}
		m, err := decode(*res)
		if err != nil {
			return err
		}
		if in.Tags != nil {
			set(&m, *in.Tags)
		}
		res.Body, err = json.Marshal(m)
		return err
	})
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return store.Resource{}, r.ResourceNotFound(r.ID)
	}
	return updated, err
}
