package schema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Channels a template (and a send node) can use.
const (
	ChannelEmail   = "email"
	ChannelSMS     = "sms"
	ChannelWebhook = "webhook"
)

// TemplateContent is the channel-specific body of a template (DESIGN §7).
// Every string is Liquid.
type TemplateContent struct {
	// email
	Subject string `json:"subject,omitempty"`
	HTML    string `json:"html,omitempty"`
	Text    string `json:"text,omitempty"`
	From    string `json:"from,omitempty"`
	ReplyTo string `json:"reply_to,omitempty"`
	// sms (Body) and webhook (Method, URL, Headers, Body)
	Body    string            `json:"body,omitempty"`
	Method  string            `json:"method,omitempty"`
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// Template is a named, channel-typed message template.
type Template struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Channel   string    `json:"channel"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	TemplateContent
}

// CreateTemplate stores a new template.
func (s *Store) CreateTemplate(ctx context.Context, workspaceID string, t Template) (Template, error) {
	t.ID = NewID("tpl")
	content, err := json.Marshal(t.TemplateContent)
	if err != nil {
		return Template{}, err
	}
	err = s.pool.QueryRow(ctx, `
		INSERT INTO templates (id, workspace_id, name, channel, content) VALUES ($1, $2, $3, $4, $5)
		RETURNING created_at, updated_at`, t.ID, workspaceID, t.Name, t.Channel, content).Scan(&t.CreatedAt, &t.UpdatedAt)
	if err != nil {
		return Template{}, fmt.Errorf("insert template: %w", err)
	}
	return t, nil
}

// UpdateTemplate replaces a template's name and content; the channel stays.
func (s *Store) UpdateTemplate(ctx context.Context, workspaceID string, t Template) (Template, error) {
	content, err := json.Marshal(t.TemplateContent)
	if err != nil {
		return Template{}, err
	}
	err = s.pool.QueryRow(ctx, `
		UPDATE templates SET name = $3, content = $4, updated_at = now()
		WHERE workspace_id = $1 AND id = $2 AND deleted_at IS NULL
		RETURNING channel, created_at, updated_at`, workspaceID, t.ID, t.Name, content).Scan(&t.Channel, &t.CreatedAt, &t.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Template{}, ErrNotFound
	}
	if err != nil {
		return Template{}, fmt.Errorf("update template: %w", err)
	}
	return t, nil
}

const templateColumns = `id, name, channel, content, created_at, updated_at`

func scanTemplate(r pgx.Row) (Template, error) {
	var t Template
	var content []byte
	if err := r.Scan(&t.ID, &t.Name, &t.Channel, &content, &t.CreatedAt, &t.UpdatedAt); err != nil {
		return Template{}, err
	}
	if err := json.Unmarshal(content, &t.TemplateContent); err != nil {
		return Template{}, fmt.Errorf("decode template %s: %w", t.ID, err)
	}
	return t, nil
}

// GetTemplate loads one live template.
func (s *Store) GetTemplate(ctx context.Context, workspaceID, id string) (Template, error) {
	t, err := scanTemplate(s.pool.QueryRow(ctx, `SELECT `+templateColumns+` FROM templates
		WHERE workspace_id = $1 AND id = $2 AND deleted_at IS NULL`, workspaceID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Template{}, ErrNotFound
	}
	if err != nil {
		return Template{}, fmt.Errorf("load template %s: %w", id, err)
	}
	return t, nil
}

// ListTemplates returns live templates, newest first, after the cursor (an id).
func (s *Store) ListTemplates(ctx context.Context, workspaceID string, limit int, cursor string) ([]Template, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+templateColumns+` FROM templates
		WHERE workspace_id = $1 AND deleted_at IS NULL AND ($3 = '' OR id < $3)
		ORDER BY id DESC LIMIT $2`, workspaceID, limit, cursor)
	if err != nil {
		return nil, fmt.Errorf("query templates: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Template, error) { return scanTemplate(r) })
}

// TemplateChannels maps every live template id of the workspace to its channel.
func (s *Store) TemplateChannels(ctx context.Context, workspaceID string) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, channel FROM templates WHERE workspace_id = $1 AND deleted_at IS NULL`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("query template channels: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, ch string
		if err := rows.Scan(&id, &ch); err != nil {
			return nil, err
		}
		out[id] = ch
	}
	return out, rows.Err()
}

// DeleteTemplate soft-deletes a template (versions that use it keep working).
func (s *Store) DeleteTemplate(ctx context.Context, workspaceID, id string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE templates SET deleted_at = now() WHERE workspace_id = $1 AND id = $2 AND deleted_at IS NULL`, workspaceID, id)
	if err != nil {
		return fmt.Errorf("delete template: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// GetTemplateAny loads a template even when deleted (running journeys keep sending it).
func (s *Store) GetTemplateAny(ctx context.Context, workspaceID, id string) (Template, error) {
	t, err := scanTemplate(s.pool.QueryRow(ctx, `SELECT `+templateColumns+` FROM templates
		WHERE workspace_id = $1 AND id = $2`, workspaceID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Template{}, ErrNotFound
	}
	if err != nil {
		return Template{}, fmt.Errorf("load template %s: %w", id, err)
	}
	return t, nil
}
