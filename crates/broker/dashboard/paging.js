// Previous/next buttons and "page P of N" for a paged API list (clients, retained messages).

/** The page controls, built inside the element `${prefix}-pager`. */
export class Pager {
  constructor(prefix, perPage, onChange) {
    this.page = 1;
    this.perPage = perPage;
    this.pages = 1;
    const button = (label, step) => {
      const element = document.createElement("button");
      element.type = "button";
      element.textContent = label;
      element.addEventListener("click", () => {
        this.page = Math.min(Math.max(1, this.page + step), this.pages);
        onChange();
      });
      return element;
    };
    this.prev = button("Previous", -1);
    this.next = button("Next", 1);
    this.label = document.createElement("span");
    document.getElementById(`${prefix}-pager`).append(this.prev, this.label, this.next);
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
