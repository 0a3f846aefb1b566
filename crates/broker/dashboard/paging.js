// Previous/next buttons and "page P of N" for a paged API list (clients, retained messages).

/** The page controls whose elements are `${prefix}-prev`, `${prefix}-next`, `${prefix}-page`. */
export class Pager {
  constructor(prefix, perPage, onChange) {
    this.page = 1;
    this.perPage = perPage;
    this.pages = 1;
    this.label = document.getElementById(`${prefix}-page`);
    this.prev = document.getElementById(`${prefix}-prev`);
    this.next = document.getElementById(`${prefix}-next`);
    this.prev.addEventListener("click", () => this.go(this.page - 1, onChange));
    this.next.addEventListener("click", () => this.go(this.page + 1, onChange));
  }

  go(page, onChange) {
    this.page = Math.min(Math.max(1, page), this.pages);
    onChange();
  }

  /** Back to the first page (a new search). */
  reset() {
    this.page = 1;
  }

  /** Updates the controls for a list of `total` entries. */
  show(total) {
    this.pages = Math.max(1, Math.ceil(total / this.perPage));
    this.label.textContent = `page ${this.page} of ${this.pages}`;
    this.prev.disabled = this.page <= 1;
    this.next.disabled = this.page >= this.pages;
  }
}
