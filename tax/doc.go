// Package tax holds Indonesia's tax rules as lunas applies them to a B2B
// order, with no storage of its own:
//
//   - Identity: the buyer's tax identity (NPWP, NIK or passport, NITKU,
//     name, address, e-mail, whether it withholds PPh 23), normalised and
//     validated field by field. The account package stores it and calls
//     Normalize and Validate on PUT /v1/accounts/{id}.
//   - Rules.Compute: an order's tax lines, PPN 12 % on "DPP nilai lain"
//     (11/12 of the subtotal, PMK 131/2024) or a flat rate in simple
//     mode, and the PPh 23 the buyer withholds. invoice calls it when it
//     prices an order (the VAT) and at confirm (the withholding); the
//     order package stores the result; the proforma prints it.
//   - EFaktur: DJP's Coretax bulk-import XML (TaxInvoiceBulk) for a
//     month's paid orders, at most 1,000 invoices a file. Package taxbook
//     builds it from stored orders for GET /v1/tax/efaktur.xml and the
//     console.
//
// The rules, sources and the Coretax template version followed are in
// docs/tax.md. There is no XSD from DJP to validate against (it is named
// by the template but not published); the tests check the XML against the
// structure of DJP's published template instead, described with its
// sources in testdata/taxinvoicebulk.template.
//
// Money is whole rupiah (int64); rates are decimals; every computed amount
// is rounded half-up once, where the rule says.
package tax
