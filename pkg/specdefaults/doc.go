// Package specdefaults holds the safe defaults of an OCI runtime spec that
// both of berth's front ends apply: Docker's capability set, masked and
// read-only /proc and /sys paths, the default device allow-list, the
// default mounts and the default seccomp profile. engined (the Engine API)
// and supervisord's CRI server both build specs from these, so a container
// gets the same confinement whichever API made it.
package specdefaults
