package containers

import (
	"context"
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/events"

	"github.com/berthd/berth/pkg/errdefs"
)

// Rename gives the container ref the name newName, with dockerd's checks
// and messages: both names non-empty, a new name that differs from the
// current one, is valid and is free. The record is rewritten atomically
// before the old name is released, so a crash leaves one of the two names.
func (d *Daemon) Rename(ctx context.Context, ref, newName string) error {
	ref, newName = strings.TrimSpace(ref), strings.TrimSpace(newName)
	if strings.TrimPrefix(ref, "/") == "" || strings.TrimPrefix(newName, "/") == "" {
		return &msgError{msg: "Neither old nor new names may be empty", class: errdefs.ErrInvalidArgument}
	}
	c, err := d.Get(ref)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(newName, "/") {
		newName = "/" + newName
	}
	c.mu.Lock()
	oldName := c.Name
	c.mu.Unlock()
	if oldName == newName {
		return &msgError{msg: "Renaming a container with the same name as its current name", class: errdefs.ErrInvalidArgument}
	}
	if err := ValidateName(strings.TrimPrefix(newName, "/")); err != nil {
		return &msgError{msg: fmt.Sprintf("Error when allocating new name: Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", newName), class: errdefs.ErrInvalidArgument}
	}

	d.mu.Lock()
	if other, ok := d.names[newName]; ok {
		d.mu.Unlock()
		return &msgError{msg: fmt.Sprintf("Error when allocating new name: Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", newName, other), class: errdefs.ErrConflict}
	}
	d.names[newName] = c.ID
	d.mu.Unlock()

	c.mu.Lock()
	if c.removing {
		// A removal frees the name it reads once done; the container
		// must keep the name it has until then.
		err = &msgError{msg: fmt.Sprintf("cannot rename container %s: removal in progress", c.ID), class: errdefs.ErrConflict}
	} else {
		c.Name = newName
		if err = c.saveLocked(); err != nil {
			c.Name = oldName
			err = fmt.Errorf("rename %s: persist: %w", c.ID, err)
		}
	}
	c.mu.Unlock()

	d.mu.Lock()
	if err != nil {
		delete(d.names, newName)
	} else if d.names[oldName] == c.ID {
		delete(d.names, oldName)
	}
	d.mu.Unlock()
	if err != nil {
		return err
	}
	d.emit(c, events.ActionRename, map[string]string{"oldName": oldName})
	return nil
}
