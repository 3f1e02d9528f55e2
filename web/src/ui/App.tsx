import { useEffect, useState } from "preact/hooks";
import { isLoggedIn, onSessionChange } from "../api/session";
import { parseRoute, navigate, usePath } from "../router";
import { LoginPage, RegisterPage } from "./Auth";
import { Shell } from "./Shell";
import { useLang } from "./i18n";

function useSession(): boolean {
  const [loggedIn, setLoggedIn] = useState(isLoggedIn());
  useEffect(() => onSessionChange(() => setLoggedIn(isLoggedIn())), []);
  return loggedIn;
}

export function App() {
  useLang();
  const path = usePath();
  const loggedIn = useSession();
  const route = parseRoute(path);
  const publicRoute = route.name === "login" || route.name === "register";

  useEffect(() => {
    if (!loggedIn && !publicRoute) {
      // Keep the deep link (an invite, a room) to come back to after login.
      if (path !== "/") sessionStorage.setItem("roomy.after-login", path);
      navigate("/login", true);
    } else if (loggedIn && publicRoute) {
      const back = sessionStorage.getItem("roomy.after-login");
      sessionStorage.removeItem("roomy.after-login");
      navigate(back ?? "/", true);
    }
  }, [loggedIn, publicRoute, path]);

  if (!loggedIn) {
    return route.name === "register" ? <RegisterPage /> : <LoginPage />;
  }
  if (publicRoute) return null;
  return <Shell route={route} />;
}
