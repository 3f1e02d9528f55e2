import { render } from "preact";
import { applyDocumentLang } from "./i18n";
import { App } from "./ui/App";
import "./styles/app.css";

applyDocumentLang();
render(<App />, document.getElementById("app")!);
