package api

import (
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/heraldhq/herald/activities"
	"github.com/heraldhq/herald/schema"
)

// channelRoutes are the delivery settings and the suppression list.
func (s *Server) channelRoutes(a *gin.RouterGroup) {
	owner, editor := s.require(schema.RoleOwner), s.require(schema.RoleEditor)
	a.GET("/channels", editor, s.getChannels)
	a.PUT("/channels", owner, s.putChannels)
	a.POST("/channels/test", owner, s.testChannel)
	a.GET("/suppressions", s.listSuppressions)
	a.POST("/suppressions", editor, s.addSuppression)
	a.DELETE("/suppressions/:channel/:address", editor, s.removeSuppression)
}

func (s *Server) vault() *activities.ChannelVault {
	return activities.NewChannelVault(s.deps.Config.EncryptionKey)
}

// getChannels shows the settings with secrets masked.
func (s *Server) getChannels(c *gin.Context) {
	stored, err := s.deps.Store.ChannelSettings(c, current(c).workspaceID)
	if err != nil {
		s.internal(c, "load channels", err)
		return
	}
	cs, err := s.vault().Masked(stored)
	if err != nil {
		s.internal(c, "read channels", err)
		return
	}
	c.JSON(http.StatusOK, cs)
}

// putChannels validates and saves the channels named in the body; the
// others stay as they are.
func (s *Server) putChannels(c *gin.Context) {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		fail(c, http.StatusRequestEntityTooLarge, "request body is too large")
		return
	}
	cs, err := activities.DecodeChannelSettings(body)
	if se := (*activities.SettingsError)(nil); errors.As(err, &se) && se.Err != nil {
		failDecode(c, se.Err, body, reflect.TypeOf(&cs))
		return
	}
	if s.settingsError(c, err) {
		return
	}
	p := current(c)
	stored, err := s.deps.Store.ChannelSettings(c, p.workspaceID)
	if err != nil {
		s.internal(c, "load channels", err)
		return
	}
	rows, err := s.vault().Merge(cs, stored)
	if s.settingsError(c, err) {
		return
	}
	if err := s.deps.Store.PutChannelSettings(c, p.workspaceID, p.actor, rows); err != nil {
		s.internal(c, "save channels", err)
		return
	}
	changed := map[string]string{}
	for _, r := range rows {
		changed[r.Channel] = r.Provider
	}
	s.audit(c, "update", "channels", p.workspaceID, changed)
	s.getChannels(c)
}

// settingsError answers a refused setting (400 naming the field) or a
// missing encryption key; it reports whether it answered.
func (s *Server) settingsError(c *gin.Context, err error) bool {
	var se *activities.SettingsError
	switch {
	case err == nil:
		return false
	case errors.As(err, &se):
		failField(c, http.StatusBadRequest, se.Field, se.Error())
	case errors.Is(err, activities.ErrNoEncryptionKey):
		fail(c, http.StatusConflict, err.Error())
	default:
		s.internal(c, "channel settings", err)
	}
	return true
}

func (s *Server) listSuppressions(c *gin.Context) {
	limit, before, ok := timePage(c)
	if !ok {
		return
	}
	list, err := s.deps.Store.ListSuppressions(c, current(c).workspaceID, limit, before)
	if err != nil {
		s.internal(c, "list suppressions", err)
		return
	}
	writePage(c, list, limit, func(x schema.Suppression) string { return encodeTimeCursor(x.CreatedAt, schema.SuppressionKey(x)) })
}

type suppressionRequest struct {
	Channel string `json:"channel"`
	Address string `json:"address"`
}

// addSuppression suppresses an address by hand.
func (s *Server) addSuppression(c *gin.Context) {
	var req suppressionRequest
	if !bindJSON(c, &req) {
		return
	}
	if req.Channel != schema.ChannelEmail && req.Channel != schema.ChannelSMS {
		failField(c, http.StatusBadRequest, "channel", `channel must be "email" or "sms"`)
		return
	}
	if req.Address == "" {
		failField(c, http.StatusBadRequest, "address", "address is required")
		return
	}
	p := current(c)
	if err := s.deps.Store.Suppress(c, p.workspaceID, schema.Suppression{Channel: req.Channel, Address: req.Address, Reason: schema.SuppressManual}); err != nil {
		s.internal(c, "suppress", err)
		return
	}
	s.audit(c, "suppress", "address", req.Channel+":"+schema.NormalizeAddress(req.Channel, req.Address), nil)
	sup, err := s.deps.Store.Suppressed(c, p.workspaceID, req.Channel, req.Address)
	if s.storeError(c, "load suppression", err) {
		return
	}
	c.JSON(http.StatusCreated, sup)
}

// removeSuppression resubscribes an address.
func (s *Server) removeSuppression(c *gin.Context) {
	p := current(c)
	channel, address := c.Param("channel"), c.Param("address")
	if s.storeError(c, "remove suppression", s.deps.Store.Unsuppress(c, p.workspaceID, channel, address)) {
		return
	}
	s.audit(c, "resubscribe", "address", channel+":"+schema.NormalizeAddress(channel, address), nil)
	c.Status(http.StatusNoContent)
}

type channelTestRequest struct {
	Channel string `json:"channel"`
	To      string `json:"to"`
}

// testChannel sends a test message through the workspace's provider for a
// channel: 200 when the provider took it, 422 with its answer when not.
func (s *Server) testChannel(c *gin.Context) {
	var req channelTestRequest
	if !bindJSON(c, &req) {
		return
	}
	switch req.Channel {
	case schema.ChannelEmail, schema.ChannelSMS, schema.ChannelWebhook:
	default:
		failField(c, http.StatusBadRequest, "channel", `channel must be "email", "sms" or "webhook"`)
		return
	}
	req.To = strings.TrimSpace(req.To)
	if req.To == "" || len(req.To) > 2048 {
		failField(c, http.StatusBadRequest, "to", "to is required: the address, number or URL to send the test to")
		return
	}
	p := current(c)
	res, err := s.sender.TestChannel(c, p.workspaceID, req.Channel, req.To)
	s.audit(c, "test", "channel", req.Channel, map[string]any{"ok": err == nil})
	if err != nil {
		fail(c, http.StatusUnprocessableEntity, err.Error())
		return
	}
	c.JSON(http.StatusOK, res)
}
