package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// scopeACR is the Entra audience the registry exchange accepts, as
// azcontainerregistry and az request it.
const scopeACR = "https://containerregistry.azure.net/.default"

// nullGUID is the username that tells a registry the password is an ACR
// refresh token (az acr login; docs "AAD-OAuth").
const nullGUID = "00000000-0000-0000-0000-000000000000"

// loginServer returns a registry's "host:port".
func (c *client) loginServer(ctx context.Context, group, name string) (string, error) {
	_, reg, err := c.registry(ctx, group, name)
	if err != nil {
		return "", err
	}
	var r struct {
		Properties struct {
			LoginServer string `json:"loginServer"`
		} `json:"properties"`
	}
	if json.Unmarshal(reg, &r) != nil || r.Properties.LoginServer == "" {
		return "", &apiError{Code: "LoginServerNotFound", Message: "The registry '" + name + "' has no login server."}
	}
	return r.Properties.LoginServer, nil
}

// acrRefreshToken signs in to a registry as ACR's AAD-OAuth flow does: an
// Entra access token for the CLI's principal (audience
// containerregistry.azure.net) exchanged at https://LOGIN/oauth2/exchange
// for an ACR refresh token.
func (c *client) acrRefreshToken(ctx context.Context, loginServer string) (string, error) {
	tok, err := c.tokens.GetToken(ctx, tokenOptions(scopeACR))
	if err != nil {
		return "", authError(err)
	}
	form := url.Values{"grant_type": {"access_token"}, "service": {loginServer}, "tenant": {c.profile.TenantID}, "access_token": {tok.Token}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+loginServer+"/oauth2/exchange", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		if e := parseErrorBody(body); e != nil {
			e.Status = resp.StatusCode
			return "", e
		}
		return "", &apiError{Status: resp.StatusCode, Code: http.StatusText(resp.StatusCode), Message: "the registry refused the token exchange"}
	}
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.RefreshToken == "" {
		return "", &apiError{Status: resp.StatusCode, Code: "InvalidResponse", Message: "the registry's exchange answer has no refresh_token"}
	}
	return out.RefreshToken, nil
}

// dockerConfigFile is docker's config.json: in $DOCKER_CONFIG, else ~/.docker.
func dockerConfigFile(getenv func(string) string) (string, error) {
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json"), nil
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", err
		}
	}
	return filepath.Join(home, ".docker", "config.json"), nil
}

// writeDockerAuth sets the auths entry of loginServer in docker's config
// file as `az acr login` leaves it: the null-GUID username with an empty
// password in "auth" and the ACR refresh token as "identitytoken". Every
// other key of the file is kept as it was.
func writeDockerAuth(file, loginServer, refreshToken string) error {
	cfg := map[string]json.RawMessage{}
	b, err := os.ReadFile(file)
	switch {
	case err == nil:
		if len(strings.TrimSpace(string(b))) > 0 {
			if err := json.Unmarshal(b, &cfg); err != nil {
				return errors.New("the docker config " + file + " is not valid JSON: " + err.Error())
			}
		}
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	auths := map[string]json.RawMessage{}
	if raw, ok := cfg["auths"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &auths); err != nil {
			return errors.New("the docker config's auths is not an object: " + err.Error())
		}
	}
	entry, err := json.Marshal(map[string]string{
		"auth":          base64.StdEncoding.EncodeToString([]byte(nullGUID + ":")),
		"identitytoken": refreshToken,
	})
	if err != nil {
		return err
	}
	auths[loginServer] = entry
	if cfg["auths"], err = json.Marshal(auths); err != nil {
		return err
	}
	out, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	return writeFileAtomic(file, append(out, '\n'))
}
