package containers

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"regexp"

	"github.com/berthd/berth/pkg/errdefs"
)

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidateName checks a user-given name (with or without the leading "/").
func ValidateName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// NewID returns a random 64-hex-digit container ID that is not all digits
// (so that it cannot be mistaken for a number, as docker ensures).
func NewID() string {
	for {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic(err)
		}
		id := hex.EncodeToString(b[:])
		for _, c := range id[:12] {
			if c > '9' {
				return id
			}
		}
	}
}

var (
	adjectives = []string{
		"admiring", "bold", "brave", "busy", "calm", "clever", "cool", "eager", "elated",
		"epic", "fervent", "focused", "gallant", "gifted", "happy", "hopeful", "jolly",
		"keen", "kind", "loving", "lucid", "modest", "nifty", "noble", "quirky", "serene",
		"sharp", "stoic", "sweet", "tender", "upbeat", "vibrant", "wizardly", "youthful", "zealous",
	}
	nouns = []string{
		"albatross", "anchor", "barge", "beacon", "buoy", "capstan", "cutter", "dinghy",
		"dock", "ferry", "galley", "harbor", "hull", "jetty", "keel", "ketch", "lighthouse",
		"mast", "mooring", "pier", "quay", "rudder", "schooner", "sextant", "sloop", "tugboat",
		"wharf", "yawl",
	}
)

func pick(list []string) string {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(list))))
	if err != nil {
		panic(err)
	}
	return list[n.Int64()]
}

// GenerateName returns an adjective_noun name; after a few collisions
// (taken reports them) it appends a digit, as docker does.
func GenerateName(taken func(string) bool) string {
	for i := 0; ; i++ {
		name := pick(adjectives) + "_" + pick(nouns)
		if i >= 10 {
			name = fmt.Sprintf("%s%d", name, i)
		}
		if !taken(name) {
			return name
		}
	}
}
