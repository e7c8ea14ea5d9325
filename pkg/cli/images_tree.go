package cli

import (
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/image"
	"golang.org/x/term"
)

// images --tree is docker CLI 28's experimental view: each image, and under
// it its platform manifests (the image list's manifests=1). Layout, widths
// and escape sequences are the docker CLI's (28.2), so that ctl and docker
// print the same bytes for the same engine, on a terminal and off one.

// The SGR sequences of the tree; each coloured text ends with sgrReset.
const (
	sgrReset   = "\x1b[0m"
	sgrTitle   = "\x1b[39m\x1b[1m" // column titles: written even off a terminal, as docker does
	sgrName    = "\x1b[34m\x1b[1m"
	sgrNormal  = "\x1b[39m"
	sgrFaint   = "\x1b[39m\x1b[2m" // <untagged>, and platforms whose content is not all here
	sgrWarning = "\x1b[93m"
)

// treeMark is a text written one way off a terminal and another on one:
// the EXTRA column's mark (docker has one, "U" for in use) and the
// legend's header.
type treeMark struct{ plain, fancy string }

var (
	markInUse  = treeMark{plain: "U", fancy: "\x1b[38;5;0m\x1b[48;5;14m U \x1b[0m"}
	infoHeader = treeMark{plain: " Info -> ", fancy: "\x1b[1m\x1b[106m\x1b[30mi\x1b[0m\x1b[0m \x1b[96mInfo → \x1b[0m\x1b[0m"}
)

const treeWarning = "WARNING: This is an experimental feature. The output may change and shouldn't be depended on."

// treeDetails are the columns after the first of one line.
type treeDetails struct {
	id, diskUsage, contentSize string
	inUse                      bool
}

type treePlatform struct {
	name      string
	available bool
	details   treeDetails
}

type treeImage struct {
	names     []string
	details   treeDetails
	platforms []treePlatform
	created   int64
}

// treeImages makes the tree's entries from an image list with manifests,
// newest first. Without all, dangling images (no tag, no digest) are left
// out, as the docker CLI does whatever the engine sent. spacing tells
// whether any image has a platform line, which puts an empty line after
// every image's own.
func treeImages(list []image.Summary, all bool) (imgs []treeImage, spacing bool) {
	for _, s := range list {
		if !all && isDanglingSummary(s) {
			continue
		}
		img := treeImage{names: s.RepoTags, created: s.Created, details: treeDetails{
			id:        truncateID(s.ID),
			diskUsage: units.HumanSizeWithPrecision(float64(s.Size), 3),
			inUse:     s.Containers > 0,
		}}
		var content int64
		for _, m := range s.Manifests {
			// Every manifest's content counts, attestations too; only
			// image manifests get a line.
			content += m.Size.Content
			if m.Kind != image.ManifestKindImage {
				continue
			}
			p := treePlatform{name: "unknown", available: m.Available, details: treeDetails{
				id:          truncateID(m.ID),
				diskUsage:   units.HumanSizeWithPrecision(float64(m.Size.Total), 3),
				contentSize: units.HumanSizeWithPrecision(float64(m.Size.Content), 3),
			}}
			if d := m.ImageData; d != nil {
				if d.Platform.OS != "" {
					p.name = path.Join(d.Platform.OS, d.Platform.Architecture, d.Platform.Variant)
				}
				p.details.inUse = len(d.Containers) > 0
			}
			img.details.inUse = img.details.inUse || p.details.inUse
			img.platforms = append(img.platforms, p)
			spacing = true
		}
		img.details.contentSize = units.HumanSizeWithPrecision(float64(content), 3)
		imgs = append(imgs, img)
	}
	// The docker CLI's own order (sort.Slice: unstable among equal times,
	// so the same call keeps ties as it does).
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].created > imgs[j].created })
	return imgs, spacing
}

// isDanglingSummary is the docker CLI's test of an image without a name.
func isDanglingSummary(s image.Summary) bool {
	if len(s.RepoTags) == 0 && len(s.RepoDigests) == 0 {
		return true
	}
	return len(s.RepoTags) == 1 && s.RepoTags[0] == "<none>:<none>" && len(s.RepoDigests) == 1 && s.RepoDigests[0] == "<none>@<none>"
}

// treeColumn is one column after the first.
type treeColumn struct {
	title string
	width int
	right bool
	value func(treeDetails) string
	// plain columns are never coloured (their marks have their own).
	plain bool
}

const treeGap = 3 // spaces between columns

// treeOutput writes the tree: tty tells whether out is a terminal, and
// ttyWidth is its width (0 when unknown or not a terminal).
type treeOutput struct {
	w        io.Writer
	tty      bool
	ttyWidth int
}

// sgr is sgr on a terminal, else none.
func (o treeOutput) sgr(sgr string) string {
	if o.tty {
		return sgr
	}
	return ""
}

func (o treeOutput) mark(m treeMark) string {
	if o.tty {
		return m.fancy
	}
	return m.plain
}

func (o treeOutput) print(imgs []treeImage, spacing bool) {
	width := o.ttyWidth
	if width == 0 {
		width = 80
	}
	width = max(width, 20)
	// The in-use mark has a place only when a platform line is in use.
	marks := false
	for _, img := range imgs {
		for _, p := range img.platforms {
			marks = marks || p.details.inUse
		}
	}
	extra := len("Extra")
	if marks {
		extra = max(extra, visibleWidth(o.mark(markInUse)))
	}
	cols := []treeColumn{
		{title: "ID", width: 12, value: func(d treeDetails) string { return d.id }},
		{title: "Disk usage", width: 10, right: true, value: func(d treeDetails) string { return d.diskUsage }},
		{title: "Content size", width: 12, right: true, value: func(d treeDetails) string { return d.contentSize }},
		{title: "Extra", width: extra, plain: true, value: func(d treeDetails) string {
			switch {
			case !marks:
				return ""
			case d.inUse:
				return o.mark(markInUse)
			}
			return strings.Repeat(" ", visibleWidth(o.mark(markInUse)))
		}},
	}
	// The first column gets what the others leave, at least 12 (columns
	// that would take more are dropped), and no more than its widest value.
	// Widths are counted in bytes there, as docker does: a platform line's
	// "└─ " counts 7.
	nameWidth := width
	for i, c := range cols {
		if nameWidth-(c.width+treeGap) < 12 {
			cols = cols[:i]
			break
		}
		nameWidth -= c.width + treeGap
	}
	widest := len("Image")
	for _, img := range imgs {
		for _, n := range img.names {
			widest = max(widest, len(n))
		}
		for _, p := range img.platforms {
			widest = max(widest, len(p.name)+len("└─ "))
		}
	}
	nameWidth = min(nameWidth, widest)

	var b strings.Builder
	fmt.Fprintln(&b, paint(o.sgr(sgrWarning), treeWarning))
	legend := o.mark(infoHeader) + " " + o.mark(markInUse) + " In Use "
	fmt.Fprintln(&b, strings.Repeat(" ", max(width-visibleWidth(legend), 0))+legend)
	fmt.Fprintln(&b)

	// Titles are bold even off a terminal, as docker writes them.
	b.WriteString(treeCell("IMAGE", nameWidth, false, sgrTitle))
	for _, c := range cols {
		b.WriteString(strings.Repeat(" ", treeGap) + treeCell(strings.ToUpper(c.title), c.width, c.right, sgrTitle))
	}
	fmt.Fprintln(&b)
	details := func(d treeDetails, sgr string) {
		for _, c := range cols {
			s := sgr
			if c.plain {
				s = ""
			}
			b.WriteString(strings.Repeat(" ", treeGap) + treeCell(c.value(d), c.width, c.right, s))
		}
	}
	for _, img := range imgs {
		o.printNames(&b, img.names, nameWidth)
		details(img.details, o.sgr(sgrNormal))
		if len(img.platforms) > 0 || spacing {
			fmt.Fprintln(&b)
		}
		for i, p := range img.platforms {
			sgr := sgrNormal
			if !p.available {
				sgr = sgrFaint
			}
			branch := "├─ "
			if i == len(img.platforms)-1 {
				branch = "└─ "
			}
			b.WriteString(treeCell(branch+p.name, nameWidth, false, o.sgr(sgr)))
			details(p.details, o.sgr(sgr))
			fmt.Fprintln(&b)
		}
		fmt.Fprintln(&b)
	}
	io.WriteString(o.w, b.String())
}

// printNames writes an image's names, longest first: each but the last on
// a line of its own (cut to the terminal's width), the last in the first
// column of the details' line.
func (o treeOutput) printNames(b *strings.Builder, names []string, width int) {
	if len(names) == 0 {
		b.WriteString(treeCell("<untagged>", width, false, o.sgr(sgrFaint)))
		return
	}
	sorted := append([]string{}, names...)
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })
	for i, n := range sorted {
		if i < len(sorted)-1 {
			// docker cuts a name as wide as the terminal too (its last
			// character becomes the ellipsis).
			if w := o.ttyWidth; w > 0 && utf8.RuneCountInString(n) >= w {
				n = string([]rune(n)[:w-1]) + "…"
			}
			fmt.Fprintln(b, paint(o.sgr(sgrName), n))
			continue
		}
		b.WriteString(treeCell(n, width, false, o.sgr(sgrName)))
	}
}

// treeCell is s in a column width wide, aligned left or right and
// coloured by sgr, or cut with an ellipsis when wider.
func treeCell(s string, width int, right bool, sgr string) string {
	n := visibleWidth(s)
	if n > width {
		return paint(sgr, ellipsis(s, width))
	}
	pad := strings.Repeat(" ", width-n)
	if right {
		return pad + paint(sgr, s)
	}
	return paint(sgr, s) + pad
}

// paint wraps s in sgr; an empty sgr (off a terminal) leaves it.
func paint(sgr, s string) string {
	if sgr == "" {
		return s
	}
	return sgr + s + sgrReset
}

// visibleWidth is how many cells s takes on a terminal: its runes, SGR
// sequences (ESC to "m") left out; the tree's texts have no wide
// characters.
func visibleWidth(s string) int {
	n := 0
	for s != "" {
		if i := strings.IndexByte(s, 'm'); s[0] == '\x1b' && i > 0 {
			s = s[i+1:]
			continue
		}
		_, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		n++
	}
	return n
}

// terminalWidth tells whether w is a terminal and its width (0 when the
// terminal does not tell).
func terminalWidth(w io.Writer) (int, bool) {
	if !isTerminal(w) {
		return 0, false
	}
	width, _, err := term.GetSize(int(w.(*os.File).Fd()))
	if err != nil {
		return 0, true
	}
	return width, true
}
