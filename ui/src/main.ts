import { StraitApp } from "./app";

const root = document.getElementById("app");
if (root) {
  void new StraitApp(root).start();
}
