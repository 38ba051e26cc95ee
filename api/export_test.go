package api

// SetExportHooks has a customer export call wait when it finds every slot
// taken and hold once it has a slot, before it streams: a test sees an
// export wait, and holds exports open by blocking in hold.
func (s *Server) SetExportHooks(wait, hold func()) {
	s.exportHooks = exportHooks{wait: wait, hold: hold}
}
