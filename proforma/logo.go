package proforma

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"

	xdraw "golang.org/x/image/draw"
)

// logoMaxPx bounds the logo's longer side: 600 px is 380 dpi at the 40 mm
// the page gives it, and keeps a camera-sized file out of every PDF.
const logoMaxPx = 600

// logo is the seller's logo prepared once per process in a form fpdf
// embeds without decoding it again: a baseline JPEG as given, or an opaque
// 8-bit RGB PNG (fpdf re-compresses a PNG with alpha, about a megabyte of
// allocation per document, and refuses 16-bit and interlaced ones).
type logo struct {
	data     []byte
	kind     string // "png" or "jpg"
	widthPx  int
	heightPx int
}

// fit is the logo's size in millimetres inside a maxW × maxH box, its
// proportions kept.
func (l *logo) fit(maxW, maxH float64) (float64, float64) {
	w, h := maxW, maxW*float64(l.heightPx)/float64(l.widthPx)
	if h > maxH {
		w, h = maxH*float64(l.widthPx)/float64(l.heightPx), maxH
	}
	return w, h
}

// SetLogo puts img (PNG or JPEG bytes, LUNAS_SELLER_LOGO) at the top left of
// every document, beside the seller. cmd/lunas calls it once, before the
// renderer is shared; an image that is neither PNG nor JPEG is an error.
func (r *Renderer) SetLogo(img []byte) error {
	l, err := prepareLogo(img)
	if err != nil {
		return err
	}
	r.logo = l
	return nil
}

func prepareLogo(raw []byte) (*logo, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("proforma: logo: not a PNG or JPEG image: %w", err)
	}
	if format != "png" && format != "jpeg" {
		return nil, fmt.Errorf("proforma: logo: %s image; want PNG or JPEG", format)
	}
	if cfg.Width == 0 || cfg.Height == 0 {
		return nil, errors.New("proforma: logo: empty image")
	}
	small := cfg.Width <= logoMaxPx && cfg.Height <= logoMaxPx
	if format == "jpeg" && small {
		return &logo{data: raw, kind: "jpg", widthPx: cfg.Width, heightPx: cfg.Height}, nil
	}
	src, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("proforma: logo: %w", err)
	}
	w, h := cfg.Width, cfg.Height
	if !small {
		if w >= h {
			w, h = logoMaxPx, max(1, h*logoMaxPx/w)
		} else {
			w, h = max(1, w*logoMaxPx/h), logoMaxPx
		}
	}
	// Onto white: the page is white, and an opaque image is one fpdf embeds as it is.
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, xdraw.Src)
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), xdraw.Over, nil)
	var buf bytes.Buffer
	if format == "jpeg" {
		err = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 90})
		return &logo{data: buf.Bytes(), kind: "jpg", widthPx: w, heightPx: h}, err
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, dst); err != nil {
		return nil, fmt.Errorf("proforma: logo: %w", err)
	}
	return &logo{data: buf.Bytes(), kind: "png", widthPx: w, heightPx: h}, nil
}
